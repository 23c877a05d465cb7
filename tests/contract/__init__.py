"""The SIP edge contract suite (issue 5)."""
