"""The on-call rota over HTTP."""
