"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014)."""
