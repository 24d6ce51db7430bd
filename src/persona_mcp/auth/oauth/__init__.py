"""The built-in OAuth 2.1 authorization server, on the MCP SDK's own parts (issue 14).

The SDK's `create_auth_routes` speaks the protocol (RFC 8414 metadata, RFC 7591 registration, the
authorization and token endpoints with PKCE S256, RFC 7009 revocation); this package is the
`OAuthAuthorizationServerProvider` behind it, on the project's store, and the consent that binds every
token to a grant an administrator issued: a person signs in with their grant token, and the scopes a
client obtains are the intersection of what it asked for, what the person ticked and what the grant holds.
"""
