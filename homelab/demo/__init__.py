"""The demo: a bundled inventory of small local services, so `homelab up --demo` shows the
whole loop on a laptop with no Docker and no root."""
