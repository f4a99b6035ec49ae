"""The Nova guide's example application, ported to fastapi-nova."""
