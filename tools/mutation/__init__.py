"""The mutation campaign over the privacy-critical modules (docs/mutation.md)."""
