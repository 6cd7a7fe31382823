"""citylight: the central management system for NB-IoT street lighting."""
