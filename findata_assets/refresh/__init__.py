"""Old home of the refresh code, kept only for instance configs that still name it."""
