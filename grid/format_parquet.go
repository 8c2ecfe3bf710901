package grid

import (
	"io"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/codec"
)

// Parquet results are registered here rather than by a package of their
// own: the encoder lives in codec, which grid imports anyway, so every
// user of grid has the format without importing anything for it.
func init() {
	RegisterResultFormat("parquet", ResultFormat{
		Ext: ".parquet",
		Raw: true,
		Open: func(w io.Writer, desc protoreflect.MessageDescriptor) (ResultEncoder, error) {
			pw, err := codec.NewParquetWriter(w, desc)
			if err != nil {
				return nil, err
			}
			return parquetEncoder{pw}, nil
		},
	})
}

type parquetEncoder struct{ w *codec.ParquetWriter }

func (e parquetEncoder) Write(o Outcome) (int, error) { return e.w.Write(o.ID, o.Result) }
func (e parquetEncoder) Close() error                 { return e.w.Close() }
