#include "plot/cairo_library.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <mutex>

namespace kiln::plot {

Result<const CairoLibrary*> LoadCairo() {
  static std::once_flag once;
  static Result<const CairoLibrary*>* loaded = nullptr;
  std::call_once(once, [] {
    void* handle = ::dlopen("libcairo.so.2", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      loaded = new Result<const CairoLibrary*>(FailedPreconditionError(
          fmt::format("cannot load libcairo.so.2 to draw charts ({}); install Debian's libcairo2",
                      ::dlerror())));
      return;
    }
    auto* library = new CairoLibrary();
    std::string missing;
#define KILN_CAIRO_LOAD(name)                                                  \
  library->name = reinterpret_cast<decltype(&::name)>(::dlsym(handle, #name)); \
  if (library->name == nullptr) missing += std::string(missing.empty() ? "" : ", ") + #name;
    KILN_CAIRO_FUNCTIONS(KILN_CAIRO_LOAD)
#undef KILN_CAIRO_LOAD
    if (!missing.empty()) {
      loaded = new Result<const CairoLibrary*>(
          FailedPreconditionError(fmt::format("libcairo.so.2 lacks {}", missing)));
      return;
    }
    loaded = new Result<const CairoLibrary*>(library);
  });
  return *loaded;
}

}  // namespace kiln::plot
