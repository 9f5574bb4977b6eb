"""The models `forwardpass demo` trains and deploys: `tabular` (the contract's example) and
`digits` (an image classifier)."""
