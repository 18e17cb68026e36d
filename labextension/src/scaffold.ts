/** What "New ShimTask Notebook" writes and what "Insert %%shimtask Cell" inserts. */

export const TASK_CELL = `%%shimtask greeting
from flytekit import kwtypes
from flytekit.core.interface import Interface
from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
from flytekit.extend import ShimTaskExecutor


class GreetExecutor(ShimTaskExecutor):
    """Runs in the task's image; all it knows is the TaskTemplate and the inputs."""

    def execute_from_model(self, tt, **inputs):
        return f"{tt.custom['greeting']}, {inputs['name']}!"


class GreetTask(PythonCustomizedContainerTask):
    """What workflows instantiate; \`get_custom\` is all the executor will get."""

    def __init__(self, name: str, greeting: str):
        self.greeting = greeting
        super().__init__(
            name=name,
            task_config=None,
            container_image="ghcr.io/flyteorg/flytekit:py3.11-1.16.31",
            executor_type=GreetExecutor,
            task_type="greet",
            interface=Interface(inputs=kwtypes(name=str), outputs=kwtypes(greeting=str)),
        )

    def get_custom(self, settings):
        return {"greeting": self.greeting}


greet = GreetTask(name="greet", greeting="Hello")`;

/** Loads the magics; inserted above the scaffold in a notebook that has no such cell yet. */
export const LOAD_CELL = '%load_ext jupyter_shimtask';

/** A cell for an existing notebook: a task and its executor, ready to rename and fill in. */
export const INSERTED_CELL = `%%shimtask my_task
from flytekit import kwtypes
from flytekit.core.interface import Interface
from flytekit.core.python_customized_container_task import PythonCustomizedContainerTask
from flytekit.extend import ShimTaskExecutor


class MyExecutor(ShimTaskExecutor):
    def execute_from_model(self, tt, **inputs):
        # runs in the task's image with only the TaskTemplate (tt) and the inputs
        return f"{tt.custom['prefix']}{inputs['text']}"


class MyTask(PythonCustomizedContainerTask):
    def __init__(self, name: str, prefix: str):
        self.prefix = prefix
        super().__init__(
            name=name,
            task_config=None,
            container_image="ghcr.io/flyteorg/flytekit:py3.11-1.16.31",
            executor_type=MyExecutor,
            task_type="my_task",
            interface=Interface(inputs=kwtypes(text=str), outputs=kwtypes(result=str)),
        )

    def get_custom(self, settings):
        # everything the executor needs, as JSON: it becomes tt.custom
        return {"prefix": self.prefix}


my_task = MyTask(name="my_task", prefix="> ")`;

const INTRO = `# A template-only task

\`%%shimtask\` turns a cell into a real module, so the executor can be imported by a fresh
process or a container that sees nothing but the task's serialized \`TaskTemplate\`.
Run all cells, then change \`get_custom\` or the executor and run them again.`;

interface KernelSpecLike {
  name: string;
  display_name: string;
  language: string;
}

export function scaffoldNotebook(kernel: KernelSpecLike): Record<string, unknown> {
  const markdown = (source: string) => ({ cell_type: 'markdown', metadata: {}, source });
  const code = (source: string) => ({ cell_type: 'code', metadata: {}, source, outputs: [], execution_count: null });
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: kernel.name, display_name: kernel.display_name, language: kernel.language },
      language_info: { name: 'python' }
    },
    cells: [
      markdown(INTRO),
      code('%load_ext jupyter_shimtask'),
      code(TASK_CELL),
      markdown('The template the container gets: interface, `custom`, container and size against the limits.'),
      code('%shimtask inspect greet'),
      markdown('`pyflyte-execute` on local files, with the container args of the template:'),
      code('%shimtask run greet --mode subprocess name=world')
    ]
  };
}
