"""Files: atomic writes, the checkpoint format (safetensors + JSON, no pickle) and the run directory's names."""
