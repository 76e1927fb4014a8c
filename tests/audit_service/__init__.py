"""AuditService over real gRPC, with the hub's interceptors and JWT authentication."""
