"""cobranza: durable collection of money owed, one Temporal workflow per invoice."""
