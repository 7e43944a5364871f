"""A rule table as its authors write it: reading the file, checking it, its JSON Schema, and
the differences between two tables."""
