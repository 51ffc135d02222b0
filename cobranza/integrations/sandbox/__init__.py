"""integrations/sandbox package."""
