"""Retries of failed runs, modelled on AWS Batch's retryStrategy: the policy (pure), the request that
travels to the launcher, and the coordination of attempts and their news."""
