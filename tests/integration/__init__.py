"""Integration tests: the sandbox over real HTTP and SMTP, activities, the CLI."""
