"""HTTP ingress: gateway webhooks in, verified, deduplicated and turned into workflow signals."""
