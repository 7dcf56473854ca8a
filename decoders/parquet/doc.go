// Package parquet reads Apache Parquet files row by row for the decoders'
// parquet framing: VPC flow logs delivered with FileFormat parquet
// (.log.parquet objects, Gzip-compressed columns). Open is a
// decoders.TableOpener; the decoder's YAML (the columns step of
// ruleset/decoders/vpcflow.yml) maps the columns to event fields, as it
// maps the columns of a flow-log text line.
//
// It is the one package that imports the Parquet library
// (github.com/parquet-go/parquet-go), which is slow to compile: decoders,
// rules and engine do not depend on it; the programs pass Open in their
// options. WriteText writes flow-log records as Parquet in AWS's schema,
// for tests and for trying a pipeline.
package parquet
