"""End-to-end tests of `provision apply` on the whole sandbox stack (crash safety)."""
