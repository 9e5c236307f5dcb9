// Linked with one controller library whole (every object file of it) and only the
// libraries that library links: an include of a layer it may not use shows up as an
// undefined reference here. See "Layer checks" in the top CMakeLists.txt.
int main() { return 0; }
