package main

import (
	"bufio"
	"io"
	"text/tabwriter"
)

// table is a tabwriter over a buffer: text/tabwriter writes every cell and padding run to its
// writer separately, which on an unbuffered stdout is one system call each (70,000 for a
// report of 5,000 Secrets).
type table struct {
	*tabwriter.Writer
	buf *bufio.Writer
}

// newTable returns a table writing to out, its columns two spaces apart.
func newTable(out io.Writer) *table {
	buf := bufio.NewWriterSize(out, 64<<10)
	return &table{Writer: tabwriter.NewWriter(buf, 0, 4, 2, ' ', 0), buf: buf}
}

// Flush aligns and writes the rows written since the last Flush.
func (t *table) Flush() error {
	if err := t.Writer.Flush(); err != nil {
		return err
	}
	return t.buf.Flush()
}
