"""Lambda handlers (parse, index, retention): thin glue over the core."""
