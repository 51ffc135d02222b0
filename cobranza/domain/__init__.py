"""Pure business logic of collections: money, invoices, policies, schedules. No I/O here."""
