from setuptools import find_packages, setup

setup(
    name="caffesiam",
    version="0.1.0",
    description="Siamese networks in Caffe: pair databases, nets, training, diagrams, evaluation",
    packages=find_packages(include=["caffesiam", "caffesiam.*"]),
    python_requires=">=3.11",
    install_requires=[
        "click>=8.1",
        "numpy>=1.24,<2",
        "protobuf>=4.21,<6",
        "plyvel>=1.5",
        "isal>=1.5",
        "lmdb>=1.4",
        "pillow>=10",
        "pyyaml>=6",
        "matplotlib>=3.7",
        "graphviz>=0.20",
    ],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6", "scikit-learn>=1.3", "scipy>=1.10"],
        "demo": ["mlxtend>=0.23"],
    },
    entry_points={"console_scripts": ["caffesiam = caffesiam.cli:main"]},
)
