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
		// Results of scalar fields are written column by column from
		// their wire bytes, with no message decoded.
		Direct: func(desc protoreflect.MessageDescriptor) func([]byte) bool {
			return codec.NewResultChecker(desc).Direct
		},
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

func (e parquetEncoder) Write(o Outcome) (int, error) {
	if o.Result == nil {
		return e.w.WritePayload(o.ID, o.Payload)
	}
	return e.w.Write(o.ID, o.Result)
}
func (e parquetEncoder) Close() error { return e.w.Close() }
