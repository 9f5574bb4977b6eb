"""The serving core: the deployments a process serves (`served`), the one prediction
function every way in calls (`predict`), the token check (`auth`), the limits and usage of
each request (`guard`, `usage`)."""
