"""The local stack: the whole pipeline on one machine, on moto's server. Never deployed."""
