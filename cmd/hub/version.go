package main

import (
	"errors"
	"fmt"
	"io"
)

// version is the hub's version; scripts/build stamps it with
// -ldflags "-X main.version=...".
var version = "dev"

// errVersion is what parseFlags returns for --version, as flag.ErrHelp is
// for --help: the caller prints the version and exits 0.
var errVersion = errors.New("version requested")

// printVersion writes the stamped version.
func printVersion(w io.Writer) {
	fmt.Fprintf(w, "hearth %s\n", version)
}
