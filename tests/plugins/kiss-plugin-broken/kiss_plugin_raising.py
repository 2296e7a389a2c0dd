"""A plugin whose dataset hook raises while its metric hook works."""

from kiss_core.hookspecs import hookimpl
from kiss_core.specs import Spec


@hookimpl
def kiss_datasets():
    raise RuntimeError("dataset hook failed on purpose")


@hookimpl
def kiss_metrics():
    return [Spec("survivor", "A metric that survives its plugin's broken dataset hook",
                 "kiss_plugin_example:MeanDifference")]
