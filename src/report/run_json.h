/* A run's run.json for its report page: parsed with cJSON, its device's
 * name, and every setting as a table (the command line first). */
#ifndef VKLARS_REPORT_RUN_JSON_H
#define VKLARS_REPORT_RUN_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "report/strbuf.h"
#include "vklars/status.h"

/* Parses path; a malformed file is VKL_ERR_FORMAT naming its line. */
vkl_status vkl_report_load_json(const char *path, cJSON **out, char *err, size_t errlen);
/* run.json's device.name, or NULL. */
const char *vkl_report_device_name(const cJSON *run);
/* The settings section: the command as code, then one table row per value
 * ("optimizer.lr" for a member of an object; an array as its JSON). */
void vkl_report_settings_html(vkl_strbuf *html, const cJSON *run);

#endif
