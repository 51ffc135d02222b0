"""End-to-end tests of the workflows on the dev server, sandbox and store."""
