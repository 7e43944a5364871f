"""rights-engine: the rule tables, their compiler, and the evaluators that quote a cart."""
