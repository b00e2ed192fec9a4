"""Key discovery: the methods (local, WKD, LDAP, DANE), their validation, and running them concurrently."""
