/* Status texts, expanded from the one list in include/vklars/status.h. */
#include "vklars/vklars.h"

const char *vkl_status_str(vkl_status st) {
  switch (st) {
#define VKL_STATUS_TEXT(name, text) \
  case name: return text;
    VKL_STATUS_LIST(VKL_STATUS_TEXT)
#undef VKL_STATUS_TEXT
    default: return "unknown status";
  }
}

const char *vkl_status_name(vkl_status st) {
  switch (st) {
#define VKL_STATUS_NAME(name, text) \
  case name: return #name;
    VKL_STATUS_LIST(VKL_STATUS_NAME)
#undef VKL_STATUS_NAME
    default: return "VKL_STATUS_UNKNOWN";
  }
}

const char *vkl_version(void) {
  return VKLARS_VERSION_STRING;
}
