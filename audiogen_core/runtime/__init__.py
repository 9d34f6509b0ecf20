"""Where and in what precision the models run, and how much memory a call needs."""
