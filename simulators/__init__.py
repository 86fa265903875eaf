"""Virtual homes: residents with daily rhythms, their devices, ground truth and faults."""
