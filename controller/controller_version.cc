// The version string the binary reports (--version, /metrics build info).
namespace portico {
extern const char* const kVersion;
const char* const kVersion = "0.1.0";
}  // namespace portico
