"""llama.cpp's native code run where its crashes cannot take a command down: each model run in a child process."""
