"""The Salesforce-compatible half: the notifications envelope, the WSDL, identity tokens, client certificates."""
