"""RFC 9111 shared-cache policy as pure functions (`now` passed in), plus the stored-entry type."""
