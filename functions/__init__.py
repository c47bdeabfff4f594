"""Lambda handlers (parse, index, retention): thin glue over the core, built in issue 4."""
