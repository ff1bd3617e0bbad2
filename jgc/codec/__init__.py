"""Host-side coding: integer CDF tables, range coding, bytes. The only package that touches bytes."""

from jgc.codec.coder import IndexedCoder, StreamError
from jgc.codec.tables import CdfTables, TableError, factorized_tables, scale_tables

__all__ = ["CdfTables", "IndexedCoder", "StreamError", "TableError", "factorized_tables", "scale_tables"]
