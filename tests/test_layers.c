/* The library's structure (tools/check_layers.py): includes point down the layers (core -> nn -> io ->
 * models -> rollout -> pipeline -> eval / cli), no calls up them, and no two modules that use each other.
 * The script's self-test first shows that it finds a planted upward include and cycle. */
#include <stdio.h>

#include "testutil.h"

int main(void) {
    int rc = tu_python("tools/check_layers.py --self-test");
    CHECK(rc == 0, "check_layers.py --self-test: exit %d", rc);
    rc = tu_python("tools/check_layers.py %s", tu_build_dir());
    CHECK(rc == 0, "check_layers.py %s: exit %d (problems listed above)", tu_build_dir(), rc);
    return tu_finish();
}
