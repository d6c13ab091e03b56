"""The store: one module owns each table's writes; `queries` holds the reads."""
