// The smallest program a sandbox can exec: the spawn benchmark measures spawn-to-exit of this.
int main() { return 0; }
