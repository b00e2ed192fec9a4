"""Publishing the user's own OpenPGP key through the provider's Web Key Service (``keys publish``)."""
