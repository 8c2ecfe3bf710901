package binstage

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Interpreter returns the program interpreter an ELF executable names
// (its PT_INTERP program header, e.g. /lib64/ld-linux-x86-64.so.2): the
// dynamic loader that must exist where it runs, with the shared libraries
// it needs. It returns "" for a statically linked executable, and for a
// file that is not ELF (a script: its interpreter is on its first line,
// and not this function's business).
//
// A binary meant for workers that lack its libraries (Beam's Go SDK image
// has no libstdc++) must have none: an executable with one fails every
// call there with exit 127.
func Interpreter(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		var fe *elf.FormatError
		if errors.As(err, &fe) {
			return "", nil // not ELF
		}
		return "", err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(p.Open(), 4096))
		if err != nil {
			return "", fmt.Errorf("%s: its PT_INTERP header: %w", path, err)
		}
		return strings.TrimRight(string(b), "\x00"), nil
	}
	return "", nil
}
