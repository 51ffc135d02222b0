"""Money in, server side: statement runs, CRM tasks and holds for exceptions, their resolution."""
