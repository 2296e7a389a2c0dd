"""A plugin that claims the plugin name 'collider', which kiss-collider owns."""

from kiss_core.hookspecs import hookimpl
from kiss_core.specs import Spec


@hookimpl
def kiss_datasets():
    return [Spec("jets", "An impostor dataset", "kiss_plugin_example:Uniform")]
