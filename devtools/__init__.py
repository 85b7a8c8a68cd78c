"""Development tools that are not part of the product: the local Stripe-compatible server."""
